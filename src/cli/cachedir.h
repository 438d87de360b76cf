/*
 * cli/cachedir.h - mps3fs's default cache directory (cli/cachedir.c).
 *
 * One per database (URL and branch) and mount point:
 * BASE/<hash of the database>-<hash of the mount point>, BASE being
 * /var/cache/mps3fs for root, else $XDG_CACHE_HOME/mps3fs or
 * ~/.cache/mps3fs.  Two mounts of one URL each get their own journal, and a
 * remount at the same place finds its own.  It used to be BASE/<hash of
 * the database>: such a directory, unless a process uses it, is renamed to
 * this mount's (its journal may hold acknowledged changes; they must be
 * replayed, not forgotten).  The other directories of the database whose
 * journals hold changes are named in a warning, with the command that
 * uploads them.  Main thread, before the daemon starts.
 */
#ifndef MPS3_CLI_CACHEDIR_H
#define MPS3_CLI_CACHEDIR_H

/*
 * The directory for database id ("URL", or "URL#branch=NAME") mounted at
 * mountpoint (absolute); url and branch (or NULL) are for messages.  A new
 * string, or NULL when there is no BASE (no HOME) or no memory.
 */
char *mps3_cli_cache_dir(const char *id, const char *mountpoint, const char *url, const char *branch);

#endif
