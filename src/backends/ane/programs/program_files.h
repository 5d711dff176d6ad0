// A kernel program on disk, as a Mac compiles it (../shared/reference/ane.md, API step 2):
//   DIR/model.mil            MIL text (mil/printer.h)
//   DIR/weights/weight.bin   MILBlob v2 with one record per constant tensor (fp16)
//   DIR/io.json              how the runtime packs the input and output surfaces
#pragma once

#include <string>

#include "backends/ane/blob/milblob.h"
#include "backends/ane/mil/interpreter.h"
#include "backends/ane/programs/kernel_programs.h"

namespace anetrain::ane {

// The weight file's bytes; checks that every record lands at the offset the program names.
std::string serialize_weights(const KernelProgram& program);

void write_program_dir(const KernelProgram& program, const std::string& dir);

// A BLOBFILE loader for the interpreter that reads tensors from a parsed weight file: fp16
// records for fp16 constants, fp32 records for fp32 ones. `blob_path` is the BLOBFILE path the
// file stands for; a constant naming another path is a UserError.
mil::BlobLoader blob_loader(const MilBlobFile& file, std::string blob_path = kWeightFile);

}  // namespace anetrain::ane
