-- wrk script: sign-ups with an email no other request uses. The driver passes a run id that is
-- new for every wrk run; each thread adds its own number and a counter.
local counter = 0
local run_id = "run"
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  run_id = args[1] or run_id
  thread_id = id
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"email":"bench-%s-%d-%d@example.org","name":"Bench","password":"correct horse"}',
    run_id, thread_id, counter)
  return wrk.format("POST", "/users", { ["content-type"] = "application/json" }, body)
end
