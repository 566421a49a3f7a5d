-- Pareto local search, a search strategy written in Lua: a random start, then the mutation of
-- one dimension of a random member of the archive of non-dominated (feasible) trials. A small,
-- readable example of the ask/tell interface (docs/lua.md, "Strategy plugins").
local function dominates(a, b)
  local better = false
  for i = 1, #a do
    if a[i] > b[i] then return false elseif a[i] < b[i] then better = true end
  end
  return better
end

local function feasible(metrics, constraints)
  for _, c in ipairs(constraints) do
    local v = metrics[c.metric]
    if v ~= nil and ((c.max and v > c.max) or (c.min and v < c.min)) then return false end
  end
  return true
end

return {
  kind = "strategy",
  name = "pareto_local_search",
  description = "Random start, then one-dimension mutations of non-dominated trials (Lua).",
  ask = function(ctx)
    local st = ctx.state
    st.archive = st.archive or {}
    if #st.archive == 0 or (st.told or 0) < math.max(8, #ctx.dims) then
      local p = {}
      for i, d in ipairs(ctx.dims) do p[i] = ctx.random(d.size) end
      return p
    end
    local base = st.archive[ctx.random(#st.archive) + 1].point
    local p, movable = {}, {}
    for i, v in ipairs(base) do p[i] = v end
    for i, d in ipairs(ctx.dims) do if d.size > 1 then movable[#movable + 1] = i end end
    if #movable == 0 then return p end
    local i = movable[ctx.random(#movable) + 1]
    p[i] = (p[i] + 1 + ctx.random(ctx.dims[i].size - 1)) % ctx.dims[i].size
    return p
  end,
  tell = function(trial, ctx)
    local st = ctx.state
    st.told = (st.told or 0) + 1
    st.archive = st.archive or {}
    if not trial.ok or not feasible(trial.metrics, ctx.constraints) then return end
    local v = {}
    for i, o in ipairs(ctx.objectives) do
      local m = trial.metrics[o.metric]
      if m == nil then return end
      v[i] = o.direction == "max" and -m or m
    end
    for _, m in ipairs(st.archive) do if dominates(m.v, v) then return end end
    local kept = {}
    for _, m in ipairs(st.archive) do if not dominates(v, m.v) then kept[#kept + 1] = m end end
    kept[#kept + 1] = { point = trial.point, v = v }
    st.archive = kept
  end,
}
