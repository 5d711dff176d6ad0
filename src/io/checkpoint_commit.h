// All-or-nothing replacement of the set of files in a checkpoint directory (model weights,
// optimizer state, trainer state must always match each other, even if the process is killed
// mid-save). Journaling scheme:
//
//   1. New files are written into DIR/.staging/ (old files in DIR stay untouched).
//   2. commit() syncs them, then atomically creates DIR/.staging/COMPLETE, a manifest listing
//      the staged file names. Its appearance is the commit point.
//   3. Each staged file is renamed into DIR, DIR is synced, then COMPLETE and .staging are
//      removed.
//
// After a crash, recover_checkpoint_dir() finishes the job: with COMPLETE present it rolls
// forward (step 3 again; files already moved are skipped), without it it deletes .staging, so
// the old set survives.
//
// Only the holder of the directory's writer lock (io/run_lock.h) writes or recovers it; steps 2
// and 3 run under the exclusive commit lock, and readers hold the shared one (CheckpointReadLock)
// so they read either the old set or the new one, never a mix.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "io/run_lock.h"

namespace anetrain {

class CheckpointCommit {
 public:
  // Creates `dir` if needed, takes its writer lock unless this process holds it already (a
  // UserError naming the other writer's pid if another process does), recovers any interrupted
  // commit, then creates an empty staging directory. Throws UserError naming the directory on
  // I/O failure.
  explicit CheckpointCommit(std::string dir);
  // Without a successful commit(), deletes the staging directory (if COMPLETE was never
  // written), so an exception mid-save leaves the old checkpoint and no debris.
  ~CheckpointCommit();
  CheckpointCommit(const CheckpointCommit&) = delete;
  CheckpointCommit& operator=(const CheckpointCommit&) = delete;

  // Where the caller writes the new version of `filename` (a plain name such as
  // "model.safetensors": no '/', no leading '.', not "COMPLETE", no ".tmp.").
  std::string staging_path(const std::string& filename);

  // Publishes every file in the staging directory at once. Every name handed out by
  // staging_path() must have been written. Call at most once per object.
  void commit();

  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::unique_ptr<RunWriterLock> own_lock_;  // null when the caller holds the writer lock
  std::string staging_;
  std::vector<std::string> requested_;
  bool marker_written_ = false;
  bool committed_ = false;
};

// Brings `dir` to a consistent state after a possible crash: finishes a commit whose COMPLETE
// marker exists, discards one whose marker does not, and deletes the temp files a killed
// write_file_atomic left ("NAME.tmp.PID.N", nothing else). Idempotent; does nothing if `dir`
// does not exist or has nothing to recover. Takes the writer lock unless this process holds it
// (a UserError naming the holder's pid if another process does): only a writer recovers.
// Throws UserError naming the directory on I/O failure or a damaged journal.
void recover_checkpoint_dir(const std::string& dir);

// A reader's consistent view of the checkpoint in `dir` for as long as it lives: no commit is
// published meanwhile. Never modifies the directory, except to finish a commit that a dead
// writer left half-published (after taking the writer lock, as that writer's recovery would).
class CheckpointReadLock {
 public:
  explicit CheckpointReadLock(const std::string& dir);

 private:
  std::unique_ptr<CommitLock> lock_;
};

}  // namespace anetrain
