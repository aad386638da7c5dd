window.YTD.tweets.part0 = [
  {
    "tweet" : {
      "edit_info" : {
        "initial" : {
          "editTweetIds" : [
            "2123755737707446279"
          ],
          "editableUntil" : "2026-11-20T12:30:00.000Z",
          "editsRemaining" : "5",
          "isEditEligible" : false
        }
      },
      "retweeted" : false,
      "source" : "<a href=\"https://mobile.twitter.com\" rel=\"nofollow\">Twitter Web App</a>",
      "entities" : {
        "hashtags" : [],
        "symbols" : [],
        "user_mentions" : [],
        "urls" : []
      },
      "display_text_range" : [
        "0",
        "6"
      ],
      "favorite_count" : "0",
      "id_str" : "2123755737707446279",
      "truncated" : false,
      "retweet_count" : "0",
      "id" : "2123755737707446279",
      "created_at" : "Fri Nov 20 12:30:00 +0000 2026",
      "favorited" : false,
      "full_text" : "Lunch.",
      "lang" : "qme"
    }
  },
  {
    "tweet" : {
      "edit_info" : {
        "initial" : {
          "editTweetIds" : [
            "2105568396702646279"
          ],
          "editableUntil" : "2026-10-01T08:00:00.000Z",
          "editsRemaining" : "5",
          "isEditEligible" : false
        }
      },
      "retweeted" : false,
      "source" : "<a href=\"https://mobile.twitter.com\" rel=\"nofollow\">Twitter Web App</a>",
      "entities" : {
        "hashtags" : [
          {
            "text" : "coproweek",
            "indices" : [
              "0",
              "10"
            ]
          }
        ],
        "symbols" : [],
        "user_mentions" : [],
        "urls" : []
      },
      "display_text_range" : [
        "0",
        "32"
      ],
      "favorite_count" : "0",
      "id_str" : "2105568396702646279",
      "truncated" : false,
      "retweet_count" : "0",
      "id" : "2105568396702646279",
      "created_at" : "Thu Oct 01 08:00:00 +0000 2026",
      "favorited" : false,
      "full_text" : "#coproweek planning starts today",
      "lang" : "en"
    }
  },
  {
    "tweet" : {
      "edit_info" : {
        "initial" : {
          "editTweetIds" : [
            "2124186073297846279"
          ],
          "editableUntil" : "2026-11-21T17:00:00.000Z",
          "editsRemaining" : "5",
          "isEditEligible" : false
        }
      },
      "retweeted" : false,
      "source" : "<a href=\"https://mobile.twitter.com\" rel=\"nofollow\">Twitter Web App</a>",
      "entities" : {
        "hashtags" : [
          {
            "text" : "coproweek",
            "indices" : [
              "16",
              "26"
            ]
          }
        ],
        "symbols" : [],
        "user_mentions" : [
          {
            "name" : "Copro Team",
            "screen_name" : "copro_team",
            "indices" : [
              "3",
              "14"
            ],
            "id_str" : "1000000001",
            "id" : "1000000001"
          }
        ],
        "urls" : []
      },
      "display_text_range" : [
        "0",
        "62"
      ],
      "favorite_count" : "0",
      "id_str" : "2124186073297846279",
      "truncated" : false,
      "retweet_count" : "0",
      "id" : "2124186073297846279",
      "created_at" : "Sat Nov 21 17:00:00 +0000 2026",
      "favorited" : false,
      "full_text" : "RT @copro_team: #coproweek is trending in Leeds, thank you all",
      "lang" : "en"
    }
  },
  {
    "tweet" : {
      "edit_info" : {
        "initial" : {
          "editTweetIds" : [
            "2124181040133046279"
          ],
          "editableUntil" : "2026-11-21T16:40:00.000Z",
          "editsRemaining" : "5",
          "isEditEligible" : false
        }
      },
      "retweeted" : false,
      "source" : "<a href=\"https://mobile.twitter.com\" rel=\"nofollow\">Twitter Web App</a>",
      "entities" : {
        "hashtags" : [
          {
            "text" : "CoProWeek",
            "indices" : [
              "26",
              "36"
            ]
          }
        ],
        "symbols" : [],
        "user_mentions" : [
          {
            "name" : "Copro Team",
            "screen_name" : "copro_team",
            "indices" : [
              "0",
              "11"
            ],
            "id_str" : "1000000001",
            "id" : "1000000001"
          }
        ],
        "urls" : [],
        "media" : [
          {
            "expanded_url" : "https://twitter.com/copro_ana/status/2124181040133046279/photo/1",
            "indices" : [
              "73",
              "96"
            ],
            "url" : "https://t.co/Mm3dIa0Xyz",
            "media_url_https" : "https://pbs.twimg.com/media/Ex4mpleAAAA.jpg",
            "id_str" : "1861000000000000001",
            "id" : "1861000000000000001",
            "media_url" : "http://pbs.twimg.com/media/Ex4mpleAAAA.jpg",
            "type" : "photo",
            "display_url" : "pic.twitter.com/Mm3dIa0Xyz"
          }
        ]
      },
      "display_text_range" : [
        "0",
        "72"
      ],
      "favorite_count" : "0",
      "id_str" : "2124181040133046279",
      "truncated" : false,
      "retweet_count" : "0",
      "id" : "2124181040133046279",
      "created_at" : "Sat Nov 21 16:40:00 +0000 2026",
      "favorited" : false,
      "full_text" : "@copro_team Agreed &lt;3 the #CoProWeek crowd &amp; the café were the best part https://t.co/Mm3dIa0Xyz",
      "lang" : "en",
      "in_reply_to_status_id_str" : "2124001122334455667",
      "in_reply_to_status_id" : "2124001122334455667",
      "in_reply_to_user_id" : "1000000001",
      "in_reply_to_user_id_str" : "1000000001",
      "in_reply_to_screen_name" : "copro_team",
      "extended_entities" : {
        "media" : [
          {
            "expanded_url" : "https://twitter.com/copro_ana/status/2124181040133046279/photo/1",
            "indices" : [
              "73",
              "96"
            ],
            "url" : "https://t.co/Mm3dIa0Xyz",
            "media_url_https" : "https://pbs.twimg.com/media/Ex4mpleAAAA.jpg",
            "id_str" : "1861000000000000001",
            "id" : "1861000000000000001",
            "media_url" : "http://pbs.twimg.com/media/Ex4mpleAAAA.jpg",
            "type" : "photo",
            "display_url" : "pic.twitter.com/Mm3dIa0Xyz"
          }
        ]
      }
    }
  },
  {
    "tweet" : {
      "edit_info" : {
        "edit" : {
          "initialTweetId" : "2123717988971446280",
          "editControlInitial" : {
            "editTweetIds" : [
              "2123717988971446280",
              "2123721008870326281"
            ],
            "editableUntil" : "2026-11-20T10:30:00.000Z",
            "editsRemaining" : "4",
            "isEditEligible" : true
          }
        }
      },
      "retweeted" : false,
      "source" : "<a href=\"https://mobile.twitter.com\" rel=\"nofollow\">Twitter Web App</a>",
      "entities" : {
        "hashtags" : [
          {
            "text" : "coproweek",
            "indices" : [
              "11",
              "21"
            ]
          }
        ],
        "symbols" : [],
        "user_mentions" : [],
        "urls" : [
          {
            "url" : "https://t.co/e9bcbedc5e",
            "expanded_url" : "https://slides.example/budgets",
            "display_url" : "slides.example/budgets",
            "indices" : [
              "66",
              "89"
            ]
          }
        ]
      },
      "display_text_range" : [
        "0",
        "90"
      ],
      "favorite_count" : "5",
      "id_str" : "2123721008870326281",
      "truncated" : false,
      "retweet_count" : "0",
      "id" : "2123721008870326281",
      "created_at" : "Fri Nov 20 10:12:00 +0000 2026",
      "favorited" : false,
      "full_text" : "Day one of #coproweek: a great session on shared budgets (slides: https://t.co/e9bcbedc5e)",
      "lang" : "en"
    }
  },
  {
    "tweet" : {
      "edit_info" : {
        "initial" : {
          "editTweetIds" : [
            "2123717988971446280",
            "2123721008870326281"
          ],
          "editableUntil" : "2026-11-20T10:30:00.000Z",
          "editsRemaining" : "4",
          "isEditEligible" : true
        }
      },
      "retweeted" : false,
      "source" : "<a href=\"https://mobile.twitter.com\" rel=\"nofollow\">Twitter Web App</a>",
      "entities" : {
        "hashtags" : [
          {
            "text" : "coproweek",
            "indices" : [
              "11",
              "21"
            ]
          }
        ],
        "symbols" : [],
        "user_mentions" : [],
        "urls" : []
      },
      "display_text_range" : [
        "0",
        "56"
      ],
      "favorite_count" : "0",
      "id_str" : "2123717988971446280",
      "truncated" : false,
      "retweet_count" : "0",
      "id" : "2123717988971446280",
      "created_at" : "Fri Nov 20 10:00:00 +0000 2026",
      "favorited" : false,
      "full_text" : "Day one of #coproweek: a great session on shared budgets",
      "lang" : "en"
    }
  },
  {
    "tweet" : {
      "edit_info" : {
        "initial" : {
          "editTweetIds" : [
            "2123706664350646279"
          ],
          "editableUntil" : "2026-11-20T09:15:00.000Z",
          "editsRemaining" : "5",
          "isEditEligible" : false
        }
      },
      "retweeted" : false,
      "source" : "<a href=\"https://mobile.twitter.com\" rel=\"nofollow\">Twitter Web App</a>",
      "entities" : {
        "hashtags" : [
          {
            "text" : "CoproWeek",
            "indices" : [
              "12",
              "22"
            ]
          }
        ],
        "symbols" : [],
        "user_mentions" : [
          {
            "name" : "Copro Team",
            "screen_name" : "copro_team",
            "indices" : [
              "28",
              "39"
            ],
            "id_str" : "1000000001",
            "id" : "1000000001"
          }
        ],
        "urls" : [
          {
            "url" : "https://t.co/19773f33c7",
            "expanded_url" : "https://coproweek.example/programme?utm_source=x",
            "display_url" : "coproweek.example/program…",
            "indices" : [
              "66",
              "89"
            ]
          }
        ]
      },
      "display_text_range" : [
        "0",
        "89"
      ],
      "favorite_count" : "12",
      "id_str" : "2123706664350646279",
      "truncated" : false,
      "retweet_count" : "3",
      "id" : "2123706664350646279",
      "created_at" : "Fri Nov 20 09:15:00 +0000 2026",
      "favorited" : false,
      "full_text" : "Kicking off #CoproWeek with @copro_team &amp; friends, programme: https://t.co/19773f33c7",
      "lang" : "en"
    }
  }
]
