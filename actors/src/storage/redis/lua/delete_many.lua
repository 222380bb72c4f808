for i = 2, #ARGV do
  if redis.call('ZSCORE', IDS, ARGV[i]) then forget(ARGV[i]) end
end
return 'ok'
