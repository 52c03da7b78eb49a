"""The one local Slack: a Web API stand-in on 127.0.0.1 as strict as Slack (Block Kit's limits,
rate limits, files_upload_v2, scopes), and the builder of the signed requests Slack sends. The
console answers the bot's Web API calls with it at run time; the tests and the benches use it too."""
