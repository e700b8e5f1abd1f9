-- wrk script: posts by user 1, which the bench creates before loading.
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"userId":1,"title":"Bench","content":"A post written under load."}'
