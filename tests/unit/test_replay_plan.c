/*
 * test_replay_plan.c - which syscalls replay a batch of remote changes
 * (src/fs/replay_plan.c): a file rename is one rename, a directory moved
 * with its whole tree is one rename of the directory, and the order is
 * removals of paths made again as another kind, mkdirs (shallow first),
 * renames, creations and changes, other removals (deep first).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay_plan.h"
#include "tap.h"

#define B1 "1111111111111111111111111111111111111111111111111111111111111111"
#define B2 "2222222222222222222222222222222222222222222222222222222222222222"

static json_t *f(const char *blob, int size)
{
	return json_pack("{s:s,s:s,s:i}", "type", "f", "blob", blob, "size", size);
}

static json_t *d(void)
{
	return json_pack("{s:s}", "type", "d");
}

static void add(struct mps3_changes *c, const char *path, json_t *old, json_t *new)
{
	mps3_changes_add(c, path, old, new);
	json_decref(old);
	json_decref(new);
}

/* The plan as "kind path[>to]" words. */
static char *show(struct rbatch *b)
{
	static const char *names[] = { "mkdir", "rename", "create", "symlink", "mknod", "content", "attr", "delete",
				       "rmdir" };
	static char buf[1024];
	size_t i;

	buf[0] = '\0';
	for (i = 0; b && i < b->n; i++) {
		char one[256];

		snprintf(one, sizeof(one), "%s%s %s%s%s", i ? " " : "", names[b->v[i].kind], b->v[i].path,
			 b->v[i].to ? ">" : "", b->v[i].to ? b->v[i].to : "");
		strncat(buf, one, sizeof(buf) - strlen(buf) - 1);
	}
	return buf;
}

static void expect(const char *what, struct mps3_changes *c, const char *want)
{
	struct rbatch *b = mps3fs_replay_plan(c);

	tap_streq(show(b), want, "%s", what);
	mps3fs_rbatch_free(b);
	mps3_changes_dispose(c);
	mps3_changes_init(c);
}

/*
 * Sizes a hostile entry reaches (red-team finding: 100,000 directories held
 * the poller for minutes): planned at all, in one piece, and a legitimate
 * move of a large tree is still one rename.
 */
static void scale(struct mps3_changes *c)
{
	char path[64];
	struct rbatch *b;
	size_t i, mkdirs = 0;

	for (i = 0; i < 100000; i++) {
		snprintf(path, sizeof(path), "d%zu", i);
		add(c, path, NULL, d());
	}
	b = mps3fs_replay_plan(c);
	for (i = 0; b && i < b->n; i++)
		mkdirs += b->v[i].kind == R_MKDIR;
	tap_inteq((long long)mkdirs, 100000LL, "100,000 new directories are 100,000 mkdirs");
	mps3fs_rbatch_free(b);
	mps3_changes_dispose(c);
	mps3_changes_init(c);

	for (i = 0; i < 20000; i++) {
		snprintf(path, sizeof(path), "from/s%zu/f%zu", i % 100, i);
		add(c, path, f(B1, (int)i), NULL);
		snprintf(path, sizeof(path), "to/s%zu/f%zu", i % 100, i);
		add(c, path, NULL, f(B1, (int)i));
	}
	add(c, "from", d(), NULL);
	add(c, "to", NULL, d());
	expect("a tree of 20,000 files moved is one rename", c, "rename from>to");
}

int main(void)
{
	struct mps3_changes c;

	mps3_changes_init(&c);
	add(&c, "a", NULL, f(B1, 1));
	expect("a new file is a create", &c, "create a");

	add(&c, "a", f(B1, 1), NULL);
	add(&c, "b", NULL, f(B1, 1));
	expect("the same value gone and come is a rename", &c, "rename a>b");

	add(&c, "a", f(B1, 1), f(B2, 2));
	expect("new content is a content change", &c, "content a");

	add(&c, "a", f(B1, 1), json_pack("{s:s,s:s,s:i,s:i}", "type", "f", "blob", B1, "size", 1, "mode", 384));
	expect("same content, other mode: attributes", &c, "attr a");

	add(&c, "dir", d(), NULL);
	add(&c, "dir/x", f(B1, 1), NULL);
	add(&c, "dir/y/z", f(B2, 2), NULL);
	add(&c, "moved", NULL, d());
	add(&c, "moved/x", NULL, f(B1, 1));
	add(&c, "moved/y/z", NULL, f(B2, 2));
	expect("a directory moved with its tree is one rename", &c, "rename dir>moved");

	add(&c, "p/q/r", NULL, f(B1, 1));
	add(&c, "p", NULL, d());
	add(&c, "p/q", NULL, d());
	add(&c, "old/deep/x", f(B2, 2), NULL);
	add(&c, "old", d(), NULL);
	add(&c, "old/deep", d(), NULL);
	expect("mkdirs shallow first, then creations, removals deepest first", &c,
	       "mkdir p mkdir p/q create p/q/r delete old/deep/x rmdir old/deep rmdir old");

	add(&c, "l", json_pack("{s:s,s:s}", "type", "l", "target", "x"), json_pack("{s:s,s:s}", "type", "l", "target", "y"));
	expect("a link's new target: delete, then symlink", &c, "delete l symlink l");

	add(&c, "k", f(B1, 1), d());
	expect("a file becoming a directory: removed, then made", &c, "delete k mkdir k");

	add(&c, "fifo", NULL, json_pack("{s:s}", "type", "p"));
	expect("a new FIFO is a mknod", &c, "mknod fifo");

	add(&c, "m", json_pack("{s:i}", "mode", 384), NULL);
	expect("a value that was never a file changes nothing", &c, "");

	add(&c, "dir", d(), NULL);
	add(&c, "dir-x", NULL, d()); /* sorts between "dir" and "dir/..." by bytes */
	add(&c, "dir/a", f(B1, 1), NULL);
	add(&c, "new", NULL, d());
	add(&c, "new/a", NULL, f(B1, 1));
	expect("a sibling whose name extends the directory's is not part of its tree", &c, "mkdir dir-x rename dir>new");

	scale(&c);
	return tap_done();
}
