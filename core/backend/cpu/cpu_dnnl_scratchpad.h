#pragma once
// oneDNN's own ("library") scratchpad is kept in the thread-local storage of
// the thread that created the primitive and freed when that thread ends. Our
// primitive caches outlive threads: the studio and the trainer run each
// training on a thread of its own, so a cached primitive made by a finished
// run's thread wrote through a freed (null) scratchpad in the next run
// (oneDNN's Winograd convolution crashed test_transfer that way; every
// primitive with a scratchpad was exposed). So every cached primitive takes
// its scratchpad at execution from the executing thread: one buffer per
// thread, grown to the largest request, freed when the thread ends.
#include <dnnl.hpp>

#include <unordered_map>

namespace perceptra {

// attr with scratchpad_mode::user (pass it to the primitive_desc).
dnnl::primitive_attr& with_caller_scratchpad(dnnl::primitive_attr& attr);
inline dnnl::primitive_attr caller_scratchpad_attr() {
  dnnl::primitive_attr attr;
  return with_caller_scratchpad(attr);
}

// prim.execute(s, args) plus DNNL_ARG_SCRATCHPAD (the calling thread's
// scratchpad, at least pd's size), then waits for the stream.
void execute_with_scratchpad(const dnnl::primitive& prim, const dnnl::primitive_desc_base& pd, dnnl::stream& s,
                             std::unordered_map<int, dnnl::memory> args);

}  // namespace perceptra
