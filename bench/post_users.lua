-- wrk script: sign-ups with an email no other request uses (thread id + counter).
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  thread_id = id
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"email":"bench-%s-%d-%d@example.org","name":"Bench","password":"correct horse"}',
    os.time(), thread_id, counter)
  return wrk.format("POST", "/users", { ["content-type"] = "application/json" }, body)
end
