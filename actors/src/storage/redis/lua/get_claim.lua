local cid, res = ARGV[2], {}
for _, id in ipairs(redis.call('SMEMBERS', P .. ':c:' .. cid)) do
  local m = load(id)
  if m and m.ci == cid and held(m) then res[#res + 1] = out(m) end
end
return cjson.encode(res)
