#pragma once
// How many threads decode images (the loader's workers, statistics):
// $PERCEPTRA_DECODE_THREADS when set, else the hardware threads, at most 4
// (JPEG decoding scales to about that before memory bandwidth and the
// training threads it shares cores with set the pace).
namespace perceptra {

int default_decode_threads();

}  // namespace perceptra
