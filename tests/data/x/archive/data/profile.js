window.YTD.profile.part0 = [
  {
    "profile" : {
      "description" : {
        "bio" : "Community organiser. #coproduction",
        "website" : "",
        "location" : "Leeds"
      },
      "avatarMediaUrl" : "https://pbs.twimg.com/profile_images/1184921357201801216/Ana_400x400.jpg",
      "headerMediaUrl" : "https://pbs.twimg.com/profile_banners/1184921357201801216/1600000000"
    }
  }
]
