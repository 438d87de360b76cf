/*
 * store/file_keys.h - how the file:// store names objects on disk
 * (store/file_keys.c): key "D/N" is the file N' in the directory D', where
 * D' and N' are D + "/" and N with every byte other than letters, digits,
 * '_', '-' and a '.' that does not come first written as %XX ("" is "@").
 * Pure and thread-safe.  Errors: 0 or a negative errno.
 */
#ifndef MPS3_STORE_FILE_KEYS_H
#define MPS3_STORE_FILE_KEYS_H

#include <limits.h>
#include <stddef.h>

/* Escape n bytes of s into out (NAME_MAX + 1 bytes).  -ENAMETOOLONG if it does not fit. */
int mps3_file_esc(char *out, const char *s, size_t n);
/* Reverse of mps3_file_esc() into out (NAME_MAX + 1 bytes); -EINVAL for a name not ours. */
int mps3_file_unesc(char *out, const char *name);
/* Split key into the escaped names of its directory and file (-ENAMETOOLONG with a detail). */
int mps3_file_key_names(const char *op, const char *key, char dir[NAME_MAX + 1], char file[NAME_MAX + 1]);

#endif
