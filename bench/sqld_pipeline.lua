-- wrk script: one Hrana `/v2/pipeline` request per call, straight to a libSQL server (sqld):
-- the statement, then the stream's close. The driver passes the request body (after the run
-- id). What one statement costs the server alone, which the app's libSQL figures are read
-- against.
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"

function init(args)
  wrk.body = args[2]
end
