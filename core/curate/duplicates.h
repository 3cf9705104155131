#pragma once
// Near-duplicate images: exact copies (same content hash) and almost
// identical ones (a 64-bit perceptual hash of the decoded pixels, DCT of a
// 32x32 grey thumbnail as in pHash, within `max_distance` bits, confirmed by
// mean-centred 16x16 thumbnails differing by at most `max_pixel_diff` on
// average: a brightness change is still a duplicate). A group grows around
// its leader (joining two groups needs their leaders close too),
// so a chain of look-alikes does not merge into one huge group.
// Candidates come from multi-index hashing (the 64 bits in max_distance+1
// bands: two hashes within the distance agree on at least one band), so no
// all-pairs scan. Groups say whether they mix classes (a label conflict) or
// sit on both sides of the train/validation split (a leak).
#include <cstdint>
#include <string>
#include <vector>

#include "core/curate/image_identity.h"
#include "core/data/resolve.h"
#include "core/data/split.h"

namespace perceptra {

struct DuplicateOptions {
  int max_distance = 6;          // bits of the perceptual hash (0..15)
  double max_pixel_diff = 0.02;  // mean absolute difference of mean-centred 16x16 thumbnails, in [0,1]
};

struct DuplicateMember {
  std::string image;
  bool test_part = false;  // in the official test set
  int64_t index = 0;       // into its part's base dataset
  int label = 0;
  bool valid = false;  // on the validation side of the split
};

struct DuplicateGroup {
  bool exact = false;  // every member has the same content hash
  bool cross_class = false;
  bool leak = false;     // members on both sides of the split
  int max_distance = 0;  // largest perceptual-hash distance in the group
  std::vector<DuplicateMember> members;
};

struct DuplicateReport {
  int64_t images = 0;
  std::vector<DuplicateGroup> groups;  // leaks first, then cross-class, then the rest
};

// `split` says which training samples are validation, as indices into
// source.train (ignored when the source has an official test set: the test
// part is the validation side).
DuplicateReport find_duplicates(const DataSource& source, const SourceIdentities& ids, const Split& split,
                                const DuplicateOptions& options = {});

// The perceptual hash and thumbnail of one [C,H,W] image in [0,1] (tests).
uint64_t perceptual_hash(const float* chw, int c, int h, int w);

}  // namespace perceptra
