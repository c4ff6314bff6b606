"""`rancher-deploy serve`, the webhook server of fleet mode (docs/fleet.md, "The server").

Started by `rancher_deploy.__main__` only when asked for, so a CI run never imports it or its HTTP
server (the `serve` extra). `command` starts and stops it; `app` answers HTTP; `auth` checks
credentials; `payloads` reads each sender's body; `scheduler` queues and runs; `runner` makes one run;
`server` is the HTTP server under the application.
"""
