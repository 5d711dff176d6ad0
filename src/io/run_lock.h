// Who may change a run directory, and how readers see a consistent checkpoint in it.
//
// Two advisory locks (flock), each on its own file inside the directory:
//  - DIR/.anetrain-writer.lock: held exclusively by the one process that writes the directory
//    (`train`, for its whole life) and by anyone recovering an interrupted commit. A second
//    writer is refused with the holder's pid. Only the holder may change the checkpoint,
//    including crash recovery (checkpoint_commit.h).
//  - DIR/.anetrain-commit.lock: held exclusively by the writer while it publishes a commit
//    (the COMPLETE marker and the renames), and shared by readers while they read, so a reader
//    never sees half of one checkpoint and half of the next.
// Readers (`sample`, `eval`, `info`, `convert`, `train --init`) never delete or rewrite
// anything: the one exception is a commit left half-published by a writer that died, which a
// reader finishes (as the writer's recovery would) after taking the writer lock itself.
//
// flock locks belong to an open file, so they vanish when the holder dies (no stale locks) and
// survive exec() when the descriptor is inherited: the trainer's restart passes its writer lock
// to the new process image (ANETRAIN_RUN_LOCK_FD), which adopts it instead of locking again.
#pragma once

#include <memory>
#include <string>

namespace anetrain {

class RunWriterLock {
 public:
  // Takes the writer lock of `dir` (which must exist) without waiting. UserError naming the
  // directory and the holder's pid if another process holds it, or if this process already
  // does through another RunWriterLock.
  explicit RunWriterLock(const std::string& dir);
  ~RunWriterLock();
  RunWriterLock(const RunWriterLock&) = delete;
  RunWriterLock& operator=(const RunWriterLock&) = delete;

  // Lets the lock survive exec(): the descriptor stays open in the new image and its number goes
  // into the environment for the next RunWriterLock on the same directory to adopt.
  void keep_across_exec();

 private:
  std::string dir_;  // canonical path
  int fd_ = -1;
};

// True when this process holds the writer lock of `dir`.
bool holds_writer_lock(const std::string& dir);

// The commit lock of `dir`: exclusive for a writer publishing or recovering a commit, shared for a
// reader reading the checkpoint (checkpoint_commit.h's CheckpointReadLock). Blocks until granted
// (publishing takes milliseconds). A directory where the lock file does not exist and cannot be
// created (read-only) gets no lock, since no writer can change it either.
class CommitLock {
 public:
  enum class Mode { kShared, kExclusive };
  CommitLock(const std::string& dir, Mode mode);
  ~CommitLock();
  CommitLock(const CommitLock&) = delete;
  CommitLock& operator=(const CommitLock&) = delete;

 private:
  int fd_ = -1;
};

// Takes the writer lock of `dir` for as long as the returned object lives if nobody holds it;
// null if another process does. For readers that must finish a dead writer's commit.
std::unique_ptr<RunWriterLock> try_writer_lock(const std::string& dir);

}  // namespace anetrain
