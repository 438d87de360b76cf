/*
 * test_tree.c - the daemon's inode tree (src/fs/tree.c) without a mount:
 * values applied at paths make files, implicit and explicit directories
 * and links; removal prunes implicit parents; a file that other keys sit
 * under shows as a directory; attributes come from entries or the mount's
 * defaults.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs.h"
#include "tap.h"

#define BLOB "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static json_t *file(int size, int mode)
{
	return mode >= 0 ? json_pack("{s:s,s:s,s:i,s:i}", "type", "f", "blob", BLOB, "size", size, "mode", mode)
			 : json_pack("{s:s,s:s,s:i}", "type", "f", "blob", BLOB, "size", size);
}

static void apply(struct mps3fs *fs, const char *path, json_t *v, struct inval *inv)
{
	mps3fs_tree_apply(fs, path, v, inv);
	json_decref(v);
}

static mode_t mode_of(struct mps3fs *fs, const char *path)
{
	struct node *n = mps3fs_lookup_path(fs, path);
	struct stat st;

	if (!n)
		return 0;
	mps3fs_node_stat(fs, n, &st);
	return st.st_mode;
}

int main(void)
{
	struct mps3fs fs;
	struct inval inv = { 0 };
	struct node *n;
	char *p;

	memset(&fs, 0, sizeof(fs));
	fs.cfg.uid = 1000;
	fs.cfg.gid = 100;
	fs.cfg.umask = 022;
	tap_ok(mps3fs_tree_init(&fs) == 0, "init");

	apply(&fs, "a/b/c", file(3, 0640), &inv);
	tap_inteq(mode_of(&fs, "a/b/c"), S_IFREG | 0640, "a file with its mode");
	tap_inteq(mode_of(&fs, "a"), S_IFDIR | 0755, "its parents are implicit directories (0777 & ~umask)");
	tap_ok(inv.n >= 3, "invalidations were collected (%zu)", inv.n);
	n = mps3fs_lookup_path(&fs, "a/b/c");
	p = n ? mps3fs_node_path(n) : NULL;
	tap_streq(p, "a/b/c", "node_path gives the path back");
	free(p);
	p = mps3fs_child_path(mps3fs_lookup_path(&fs, "a/b"), "x");
	tap_streq(p, "a/b/x", "child_path");
	free(p);

	apply(&fs, "d", file(0, -1), NULL);
	tap_inteq(mode_of(&fs, "d"), S_IFREG | 0644, "a file without a mode gets 0666 & ~umask");
	{
		struct stat st;

		mps3fs_node_stat(&fs, mps3fs_lookup_path(&fs, "d"), &st);
		tap_ok(st.st_uid == 1000 && st.st_gid == 100, "and the mount's owner");
	}
	/* Issue 8, item 2: no privilege from the bucket unless the mount opts in. */
	apply(&fs, "suid", json_pack("{s:s,s:s,s:i,s:i,s:i,s:i}", "type", "f", "blob", BLOB, "size", 0, "mode", 06755,
				     "uid", 0, "gid", 0), NULL);
	{
		struct stat st;

		mps3fs_node_stat(&fs, mps3fs_lookup_path(&fs, "suid"), &st);
		tap_ok(st.st_mode == (S_IFREG | 0755) && st.st_uid == 1000 && st.st_gid == 100,
		       "set-id bits and owners from the bucket are not shown by default (%o %u:%u)", st.st_mode,
		       st.st_uid, st.st_gid);
		fs.cfg.suid = 1;
		fs.cfg.trust_owners = 1;
		mps3fs_node_stat(&fs, mps3fs_lookup_path(&fs, "suid"), &st);
		tap_ok(st.st_mode == (S_IFREG | 06755) && st.st_uid == 0 && st.st_gid == 0,
		       "with -o suid,trust_owners they are");
		fs.cfg.suid = 0;
		fs.cfg.trust_owners = 0;
	}
	apply(&fs, "l", json_pack("{s:s,s:s}", "type", "l", "target", "d"), NULL);
	tap_inteq(mode_of(&fs, "l"), S_IFLNK | 0777, "a link");
	apply(&fs, "e", json_pack("{s:s,s:i}", "type", "d", "mode", 0700), NULL);
	tap_inteq(mode_of(&fs, "e"), S_IFDIR | 0700, "an explicit directory with its mode");

	apply(&fs, "a/b/c", NULL, NULL);
	tap_ok(!mps3fs_lookup_path(&fs, "a"), "removing the only key prunes its implicit parents");
	apply(&fs, "e", NULL, NULL);
	tap_ok(!mps3fs_lookup_path(&fs, "e"), "an explicit directory goes with its entry");

	/* A file that other keys sit under: the directory wins while they exist. */
	apply(&fs, "f", file(1, 0600), NULL);
	apply(&fs, "f/g", file(2, 0600), NULL);
	tap_ok(S_ISDIR(mode_of(&fs, "f")) && S_ISREG(mode_of(&fs, "f/g")),
	       "a file gaining a key under it shows as a directory");
	apply(&fs, "f/g", NULL, NULL);
	tap_ok(S_ISREG(mode_of(&fs, "f")), "and as the file again once the key under it is gone");

	/* A kind change is a new inode: the kernel caches types. */
	{
		uint64_t ino;

		apply(&fs, "k", file(1, 0600), NULL);
		ino = mps3fs_lookup_path(&fs, "k")->ino;
		apply(&fs, "k", json_pack("{s:s}", "type", "d"), NULL);
		tap_ok(mps3fs_lookup_path(&fs, "k")->ino != ino && S_ISDIR(mode_of(&fs, "k")),
		       "a file turning into a directory is a new inode");
	}
	/* Malformed and incomplete values: no node. */
	apply(&fs, "m", json_pack("{s:i}", "mode", 0600), NULL);
	tap_ok(!mps3fs_lookup_path(&fs, "m"), "a value without a type is no file");
	tap_ok(mps3fs_tree_apply(&fs, "x//y", NULL, NULL) == 0 && mps3fs_tree_apply(&fs, "", NULL, NULL) == 0,
	       "malformed paths change nothing");

	{
		/* The same value again is no change, packed or as JSON, whatever fields it lacks. */
		static const char ordered[] = "{\"blob\":\"" BLOB "\",\"size\":3,\"type\":\"f\"}";
		struct mps3_packed pk;
		struct stat a, b;
		json_t *d = json_pack("{s:s}", "type", "d");

		tap_ok(mps3fs_tree_apply(&fs, "same/d", d, NULL) == 1 && mps3fs_tree_apply(&fs, "same/d", d, NULL) == 0,
		       "a directory entry with no mode or owner applied twice changes the tree once");
		json_decref(d);
		tap_ok(mps3_packed_from_text(&pk, ordered, strlen(ordered)), "a file entry packed");
		tap_ok(mps3fs_tree_apply_packed(&fs, "same/p", &pk, NULL) == 1 &&
			       mps3fs_tree_apply_packed(&fs, "same/p", &pk, NULL) == 0,
		       "a packed file entry applied twice changes the tree once");
		apply(&fs, "same/j", json_pack("{s:s,s:s,s:i}", "type", "f", "blob", BLOB, "size", 3), NULL);
		tap_ok(mps3fs_tree_apply_packed(&fs, "same/j", &pk, NULL) == 0,
		       "the same entry packed is no change to one held as JSON in another key order");
		n = mps3fs_lookup_path(&fs, "same/p");
		if (n)
			mps3fs_node_stat(&fs, n, &a);
		n = n ? mps3fs_lookup_path(&fs, "same/j") : NULL;
		if (n)
			mps3fs_node_stat(&fs, n, &b);
		tap_ok(n && a.st_mode == b.st_mode && a.st_size == b.st_size && a.st_uid == b.st_uid &&
			       a.st_mtim.tv_sec == b.st_mtim.tv_sec,
		       "a node from a packed record stats as one from its JSON");
	}
	mps3fs_inval_dispose(&inv);
	/* Renames: a name too long for the node goes beside it, a short one back inside; each is found. */
	{
		char longname[201];
		struct node *r, *dir;
		int ok = 1, i;

		memset(longname, 'L', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		apply(&fs, "r/x", file(1, 0600), NULL);
		r = mps3fs_lookup_path(&fs, "r/x");
		dir = mps3fs_lookup_path(&fs, "r");
		for (i = 0; r && dir && i < 6; i++) {
			const char *to = i % 2 ? "y" : longname;

			longname[0] = (char)('a' + i); /* a new long name each time */
			ok &= mps3fs_node_move(&fs, r, dir, to) == 0 && strcmp(mps3fs_node_name(r), to) == 0 &&
			      mps3fs_child(&fs, dir, to) == r;
		}
		ok &= r && mps3fs_node_move(&fs, r, dir, mps3fs_node_name(r)) == 0 && strcmp(mps3fs_node_name(r), "y") == 0;
		tap_ok(r && dir && ok, "renames between a short and a 200-byte name keep the node found by its name");
		ok = r && mps3fs_node_move(&fs, r, dir, longname) == 0;
		ok &= r && mps3fs_node_move(&fs, r, dir, mps3fs_node_name(r)) == 0 &&
		      strcmp(mps3fs_node_name(r), longname) == 0;
		tap_ok(ok, "a rename to its own name, kept beside the node, keeps it");
	}

	/* kept (the kernel may cache the content) lasts while the blob does; any change of blob ends it. */
	{
		struct node *k;
		json_t *other = json_pack("{s:s,s:s,s:i}", "type", "f", "blob",
					  "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03", "size", 6);
		int same, changed, back;

		apply(&fs, "k", file(0, 0600), NULL);
		k = mps3fs_lookup_path(&fs, "k");
		if (k)
			k->kept = 1;
		apply(&fs, "k", file(0, 0644), NULL); /* a new mode, the same content */
		same = k && k->kept;
		mps3fs_tree_apply(&fs, "k", other, NULL);
		changed = k && !k->kept;
		if (k)
			k->kept = 1;
		apply(&fs, "k", file(0, 0644), NULL); /* back to the first blob */
		back = k && !k->kept;
		tap_ok(same && changed && back, "kept survives a change of mode, not of blob (%d %d %d)", same, changed,
		       back);
		json_decref(other);
	}

	/* Holds live in the tree's table: set, read, cleared, and gone with their node. */
	{
		struct node *a, *b;
		int64_t until = 0;
		uint64_t epoch = 0;
		int ok;

		apply(&fs, "h/a", file(1, 0600), NULL);
		apply(&fs, "h/b", file(1, 0600), NULL);
		a = mps3fs_lookup_path(&fs, "h/a");
		b = mps3fs_lookup_path(&fs, "h/b");
		ok = a && b;
		if (ok) {
			mps3fs_hold_set(&fs.tree, a, 100, 1);
			mps3fs_hold_set(&fs.tree, b, 200, 2);
			mps3fs_hold_set(&fs.tree, a, 150, 3); /* a second hold replaces the first */
			ok = fs.tree.nholds == 2 && mps3fs_hold_get(&fs.tree, a, &until, &epoch) && until == 150 &&
			     epoch == 3 && mps3fs_hold_get(&fs.tree, b, &until, &epoch) && until == 200;
			ok &= mps3fs_hold_clear(&fs.tree, a) && !mps3fs_hold_get(&fs.tree, a, &until, &epoch) &&
			      !mps3fs_hold_clear(&fs.tree, a) && mps3fs_hold_get(&fs.tree, b, &until, &epoch) &&
			      until == 200 && epoch == 2;
			mps3fs_tree_apply(&fs, "h/b", NULL, NULL); /* removed and forgotten: freed with its hold */
			ok &= fs.tree.nholds == 0;
		}
		tap_ok(ok, "holds: one per node, cleared alone, dropped when the node is freed");
	}

	mps3fs_tree_dispose(&fs);
	return tap_done();
}
