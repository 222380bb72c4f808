tidy()
local after = 0
if ARGV[8] == 'seq' then after = tonumber(ARGV[2])
elseif ARGV[2] ~= '' then after = redis.call('ZSCORE', IDS, ARGV[2]) or 0 end
local limit, echo, claimed, delayed, client =
  tonumber(ARGV[3]), ARGV[4] == '1', ARGV[5] == '1', ARGV[6] == '1', ARGV[7]
-- Without claimed or delayed messages, the free index holds exactly the candidates.
local index = IDS
if not claimed and not delayed then index = FREE end
local res = {}
scan(index, after, limit, function(m)
  if (echo or m.cl ~= client) and (claimed or not held(m)) and (delayed or m.v <= now) then
    res[#res + 1] = out(m)
  end
  return #res < limit
end)
return cjson.encode(res)
