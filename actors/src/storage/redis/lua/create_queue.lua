local created = redis.call('SET', P .. ':meta', ARGV[3], 'NX')
redis.call('ZADD', KEYS[2], 0, ARGV[2])
if created then return 1 end
return 0
