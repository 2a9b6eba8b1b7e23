-- wrk script of the http_load benchmark: each connection's thread posts one attendance line per
-- request, taking in turn the (session, reference) pairs of the file PAIRS that fall to it, with
-- the EPN's token TOKEN. It counts the lines recorded and refused, and stops when its pairs end.
local threads = {}
local count = 0

function setup(thread)
  thread:set("id", count)
  count = count + 1
  table.insert(threads, thread)
end

function init(args)
  pairs_of_thread = {}
  local index = 0
  for line in io.lines(os.getenv("PAIRS")) do
    if index % tonumber(os.getenv("THREADS")) == id then
      table.insert(pairs_of_thread, line)
    end
    index = index + 1
  end
  token = os.getenv("TOKEN")
  next_pair = 1
  recorded = 0
  refused = 0
end

function request()
  local pair = pairs_of_thread[next_pair]
  if pair == nil then
    wrk.thread:stop()
    pair = pairs_of_thread[#pairs_of_thread]
  end
  next_pair = next_pair + 1
  local session, reference = pair:match("(%S+) (%S+)")
  return wrk.format("POST", "/v1/sessions/" .. session .. "/attendance",
    { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" },
    '{"entries":[{"reference":"' .. reference .. '","status":"present"}]}')
end

function response(status, headers, body)
  if status == 200 and body:find('"recorded":1', 1, true) then
    recorded = recorded + 1
  else
    refused = refused + 1
  end
end

function done(summary, latency, requests)
  local total_recorded, total_refused = 0, 0
  for _, thread in ipairs(threads) do
    total_recorded = total_recorded + thread:get("recorded")
    total_refused = total_refused + thread:get("refused")
  end
  io.write(string.format("lines recorded: %d, refused: %d\n", total_recorded, total_refused))
end
