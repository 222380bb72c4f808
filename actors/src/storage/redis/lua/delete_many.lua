local ids = {}
for i = 2, #ARGV do
  if redis.call('ZSCORE', IDS, ARGV[i]) then ids[#ids + 1] = ARGV[i] end
end
forget_all(ids)
return 'ok'
