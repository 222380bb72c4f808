local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then return cur end
if ARGV[2] ~= ARGV[3] and redis.call('HEXISTS', KEYS[2], ARGV[2]) == 0 then return false end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
return ARGV[2]
