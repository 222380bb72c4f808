-- Deletes by id of one queue gathered from concurrent requests (`storage::gather`), in the
-- order they arrived: ARGV[2] deletes, each `id, claim id` ('' for none). Each is answered
-- in turn, as if the deletes had run one after another: 'ok' (deleted, or already gone),
-- 'claimed' (held, and no claim named), 'not_claimed' (a claim named, the message not
-- held), 'not_claimed_by' (held by another claim, the one named still live) or
-- 'claim_not_valid' (held by another claim, the one named holding nothing any more).
local answers = {}
for i = 0, tonumber(ARGV[2]) - 1 do
  local id, claim = ARGV[3 + i * 2], ARGV[4 + i * 2]
  local m = load(id)
  local answer = 'ok'
  if m then
    if claim == '' then
      if held(m) then answer = 'claimed' end
    elseif not held(m) then
      answer = 'not_claimed'
    elseif m.ci ~= claim then
      answer = claim_is_live(claim) and 'not_claimed_by' or 'claim_not_valid'
    end
    if answer == 'ok' then forget(id) end
  end
  answers[#answers + 1] = answer
end
return answers
