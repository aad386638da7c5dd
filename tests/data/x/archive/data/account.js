window.YTD.account.part0 = [
  {
    "account" : {
      "email" : "ana@example.org",
      "createdVia" : "web",
      "username" : "copro_ana",
      "accountId" : "1184921357201801216",
      "createdAt" : "2019-10-17T20:04:11.000Z",
      "accountDisplayName" : "Ana Ruiz 🌱"
    }
  }
]
