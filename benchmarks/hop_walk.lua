-- wrk script: each thread holds one connection and walks USSD sessions one hop at a time, as
-- Africa's Talking posts them (`text` carries every input so far). Run with -t N -c N.
--   wrk -t16 -c16 -d10s -s benchmarks/hop_walk.lua URL -- <inputs 1*1*...> <run prefix> [check]
local counter = 0
local threads = {}

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  inputs = {}
  for value in string.gmatch(args[1], "[^*]+") do
    table.insert(inputs, value)
  end
  prefix = args[2]
  check = args[3] == "check"
  session = 0
  step = 0
  walks = 0
  wrong = 0
end

function request()
  if step == 0 then
    session = session + 1
  end
  local text = table.concat(inputs, "*", 1, step)
  local body = string.format(
    "sessionId=%s_%d_%d&serviceCode=%%2A384%%2A1234%%23&phoneNumber=%%2B2437%02d%06d"
    .. "&networkCode=63001&text=%s",
    prefix, id, session, id, session % 1000000, text)
  return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end

function response(status, headers, body)
  if status ~= 200 then
    wrong = wrong + 1
  end
  if step == #inputs then
    if check and string.sub(body, 1, 4) ~= "END " then
      wrong = wrong + 1
    end
    walks = walks + 1
    step = 0
  else
    if check and string.sub(body, 1, 4) ~= "CON " then
      wrong = wrong + 1
    end
    step = step + 1
  end
end

function done(summary, latency, requests)
  local walked, errors = 0, 0
  for _, thread in ipairs(threads) do
    walked = walked + thread:get("walks")
    errors = errors + thread:get("wrong")
  end
  io.write(string.format("WALKS %d WRONG %d\n", walked, errors))
  io.write(string.format("LAT p50=%.2f p99=%.2f max=%.2f\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
