// The engine half of the `circuit` Lua module: data sets, compile, train (with callbacks),
// evaluate, measure, export, early-exit calibration, the tensor type (tensor.h) and Lua router
// plugins. It lives in circuit_script_engine, which links LibTorch; core/script's host does not.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/data.h"
#include "engine/train.h"
#include "host.h"

namespace script {

/// Adds the engine functions to the `circuit` module of every Host created afterwards. Call
/// once at start-up, before the first Host (idempotent).
void install_engine_extension();

/// The data set (from circuit.data) at stack index `idx`, or throws LuaError naming `fn`.
std::shared_ptr<engine::Dataset> arg_dataset(lua_State* L, int idx, const char* fn);

/// Reads every option of the training option table (engine/options.h) from the options table at
/// stack index `idx` into `o`: epochs, batch, optimizer, lr, weight_decay, ..., tf32. A value of
/// the wrong type or out of range throws a LuaError naming `fn` and the option; an absent one
/// keeps `o`'s value. `given`, when set, receives the name of each option present.
void read_train_options(lua_State* L, int idx, const char* fn, engine::TrainOptions& o, std::vector<std::string>* given = nullptr);

/// Asks the script's native memory for the room `c` takes to train, from the cost model before
/// anything is allocated: weights, gradients, optimizer state and activations at `batch`. ""
/// when it fits (and `*bytes` is set), else the error, naming `what` ("`circuit.train`").
std::string training_room(lua_State* L, const circuit::Circuit& c, int64_t batch, engine::Optimizer optimizer, const std::string& what,
                          size_t* bytes = nullptr);

/// Makes every router plugin `host` has loaded selectable by name: its name becomes a choice of
/// the `moe` node's `router` attribute, and models compiled on this thread route through it.
/// Returns the names registered. Called by circuit.train / circuit.compile, and by the CLI after
/// loading plugins.
std::vector<std::string> register_lua_routers(Host& host);

/// A Host with the engine extension and the plugins of default_plugin_folders() loaded, whose
/// routers are registered on the calling thread: what any tool that trains circuits naming Lua
/// routers needs first (the CLI at start, the studio on its training thread). Keep it alive as
/// long as such models run.
std::unique_ptr<Host> host_with_plugin_routers();

}  // namespace script
