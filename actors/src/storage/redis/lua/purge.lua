tidy()
local removed = 0
for _, index in ipairs({FREE, LATER}) do
  for _, id in ipairs(redis.call('ZRANGE', index, 0, BUDGET - removed - 1)) do
    forget(id)
    removed = removed + 1
  end
  if removed >= BUDGET then break end
end
return removed
