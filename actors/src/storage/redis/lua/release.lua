local cid = ARGV[2]
local set = P .. ':c:' .. cid
for _, id in ipairs(redis.call('SMEMBERS', set)) do
  local m = load(id)
  if m and m.ci == cid then
    redis.call('HSET', mkey(id), 'ci', '', 'ce', 0)
    free_again(id, HELD)
  end
end
redis.call('DEL', set)
return 'ok'
