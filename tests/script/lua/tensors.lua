-- The tensor API: every check raises with the line that failed, so the test reads one message.
local T = require("circuit").tensor

local function near(a, b, what) assert(math.abs(a - b) < 1e-5, ("%s: %s vs %s"):format(what, a, b)) end

local x = T.from({ { 1, 2, 3 }, { 4, 5, 6 } }, "float")
assert(x:dtype() == "float" and x:dim() == 2 and x:numel() == 6)
assert(x:shape()[1] == 2 and x:shape()[2] == 3 and #x == 2)
near((x + 1):sum():item(), 27, "add number")
near((x * x):sum():item(), 91, "mul")
near((x - x:mean()):abs():max():item(), 2.5, "mean, abs, max")
near((-x):min():item(), -6, "unm")
near((x / 2):select(1, 2):sum():item(), 4.5, "div, select")
near(x:matmul(x:t()):select(0, 1):select(0, 0):item(), 32, "matmul")
near(x:softmax(-1):sum(-1):sum():item(), 2, "softmax rows sum to 1")
near(x:log_softmax(-1):exp():sum():item(), 2, "log_softmax")
near(x:logsumexp(-1):select(0, 0):item(), math.log(math.exp(1) + math.exp(2) + math.exp(3)), "logsumexp")

local v, i = x:topk(2, -1)
assert(i:dtype() == "long")
assert(i:tolist()[1][1] == 2 and i:tolist()[1][2] == 1, "topk indices are 0-based")
near(v:sum():item(), 3 + 2 + 6 + 5, "topk values")
local s, order = T.from({ 3, 1, 2 }):sort(0, true)
assert(order:tolist()[1] == 0 and order:tolist()[3] == 1 and s:tolist()[1] == 3, "sort descending")
assert(T.from({ 3, 1, 2 }):argsort():tolist()[1] == 1, "argsort")
near(x:gather(1, T.from({ { 2 }, { 0 } })):sum():item(), 7, "gather")
near(T.zeros({ 2, 3 }):scatter(1, T.from({ { 1 }, { 2 } }), 5):sum():item(), 10, "scatter number")
near(T.zeros({ 3 }):scatter_add(0, T.from({ 0, 0, 2 }), T.ones({ 3 })):tolist()[1], 2, "scatter_add")
near(T.zeros({ 3 }):index_add(0, T.from({ 2, 2 }), T.ones({ 2 })):tolist()[3], 2, "index_add")
assert(x:gt(3):sum():item() == 3 and x:eq(2):sum():item() == 1 and x:le(2):long():sum():item() == 2, "comparisons")
assert(T.where(x:gt(3), x, 0):sum():item() == 15, "where")
assert(T.from({ 0, 2, 2, 5 }):bincount(7):tolist()[3] == 2, "bincount")
assert(T.arange(4):repeat_interleave(2):tolist()[8] == 3, "repeat_interleave")
assert(T.cat({ T.ones({ 2 }), T.zeros({ 3 }) }):numel() == 5 and T.stack({ T.ones({ 2 }), T.ones({ 2 }) }):dim() == 2, "cat, stack")
assert(x:reshape({ 3, 2 }):shape()[1] == 3 and x:unsqueeze(0):dim() == 3 and x:unsqueeze(0):squeeze(0):dim() == 2, "shapes")
assert(x:narrow(1, 1, 2):shape()[2] == 2 and x:index_select(1, T.from({ 0, 2 })):sum():item() == 14, "narrow, index_select")
assert(x:masked_fill(x:gt(4), 0):sum():item() == 10, "masked_fill")
assert(T.from({ 0, 3, 0 }):nonzero():numel() == 1, "nonzero")
near(x:cumsum(1):select(1, 2):sum():item(), 21, "cumsum")
near(x:clamp(2, 5):sum():item(), 2 + 2 + 3 + 4 + 5 + 5, "clamp")

-- Autograd: d/dw sum((w * x)^2) = 2 w x^2.
local w = T.full({ 2, 3 }, 0.5):requires_grad(true)
local loss = ((w * x) ^ 2):sum()
loss:backward()
near(w:grad():select(0, 1):select(0, 2):item(), 2 * 0.5 * 36, "gradient")
assert(T.no_grad(function() return (w * 2):requires_grad() end) == false, "no_grad")
assert(tostring(T.ones({ 2 })):find("tensor%(float, %[2%]"), "tostring")

local ok, err = pcall(function() return x:topk("two") end)
assert(not ok and err:find("`topk`: argument 2 %(k%) must be an integer, got a string"), err)
ok, err = pcall(function() return x:matmul(x) end)
assert(not ok and err:find("mat1 and mat2 shapes cannot be multiplied"), err)
return "ok"
