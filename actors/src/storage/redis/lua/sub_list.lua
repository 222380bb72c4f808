local marker, limit, ids = ARGV[2], tonumber(ARGV[3]), {}
local pairs_ = redis.call('HGETALL', P .. ':subs')
for i = 1, #pairs_, 2 do
  local sub, id = pairs_[i], pairs_[i + 1]
  local e = tonumber(redis.call('HGET', P .. ':s:' .. id, 'e') or '0')
  if e > now then
    if id > marker then ids[#ids + 1] = id end
  else
    redis.call('HDEL', P .. ':subs', sub)
  end
end
table.sort(ids)
local res = {}
for i = 1, math.min(limit, #ids) do
  local f = redis.call('HMGET', P .. ':s:' .. ids[i], 'sub', 't', 'o', 'c', 'k')
  res[#res + 1] = {ids[i], f[1], tonumber(f[2]), f[3], tonumber(f[4]), tonumber(f[5])}
end
return cjson.encode(res)
