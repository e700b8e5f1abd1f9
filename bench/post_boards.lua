-- wrk script: posts by user 1, which the bench creates and signs in before loading; the driver
-- passes that sign-in's token (after the run id), sent as the author's Bearer token.
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"userId":1,"title":"Bench","content":"A post written under load."}'

function init(args)
  wrk.headers["authorization"] = "Bearer " .. args[2]
end
