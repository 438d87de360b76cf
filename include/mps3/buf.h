/*
 * mps3/buf.h - a growable byte buffer with a hard size limit.
 *
 * Everything read from the network lands in one of these; the limit makes an
 * oversized response an error (-EFBIG) instead of an allocation storm.  The
 * contents are always NUL-terminated one past len, so text can be parsed in
 * place.  Caller allocates (mps3_buf_init / mps3_buf_dispose).
 * Threads: a buffer belongs to one thread at a time; no locking inside.
 */
#ifndef MPS3_BUF_H
#define MPS3_BUF_H

#include <stddef.h>
#include <stdarg.h>

struct mps3_buf {
	char *data; /* NULL until the first append */
	size_t len;
	size_t cap;
	size_t limit; /* 0 means SIZE_MAX */
};

#define MPS3_BUF_INIT { NULL, 0, 0, 0 }

void mps3_buf_init(struct mps3_buf *b, size_t limit);
/* Frees the data; the buffer may be reused after mps3_buf_init(). */
void mps3_buf_dispose(struct mps3_buf *b);
/* Like dispose, but wipes the bytes first (secrets). */
void mps3_buf_dispose_secret(struct mps3_buf *b);
void mps3_buf_reset(struct mps3_buf *b);

/* 0, -ENOMEM, or -EFBIG when the limit would be exceeded (nothing appended). */
int mps3_buf_append(struct mps3_buf *b, const void *p, size_t n);
int mps3_buf_puts(struct mps3_buf *b, const char *s);
int mps3_buf_printf(struct mps3_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int mps3_buf_vprintf(struct mps3_buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
int mps3_buf_reserve(struct mps3_buf *b, size_t extra);

/*
 * Append n bytes of s for a terminal or a log line, as `ls -b` shows names:
 * backslash as "\\", tab, newline and carriage return as "\t" "\n"
 * "\r", and every other control character (C0, DEL, and C1 encoded as
 * UTF-8), as well as bytes that are not UTF-8, as "\ooo" octal.  A name
 * from the bucket can then never forge a line or move the cursor.
 * 0, -ENOMEM or -EFBIG.
 */
int mps3_buf_escape(struct mps3_buf *b, const char *s, size_t n);
/* The same; with backslash 0 a backslash stays as it is (log lines, where nothing is parsed back). */
int mps3_buf_escape_flags(struct mps3_buf *b, const char *s, size_t n, int backslash);
/*
 * Append n bytes of s (UTF-8) as a JSON string literal, the bytes jansson's
 * json_dumps writes: quotes around it, '"' and '\\' escaped, \b \f \n \r \t
 * as such, other control characters as \u00XX (upper case), the rest as it
 * is.  0, -ENOMEM or -EFBIG.
 */
int mps3_buf_json_string(struct mps3_buf *b, const char *s, size_t n);
/* The escaped form of a C string, for printing: malloc'd, or NULL on ENOMEM. */
char *mps3_escape(const char *s);

/* Hand the data to the caller (who frees it); the buffer is left empty. */
char *mps3_buf_detach(struct mps3_buf *b, size_t *len_out);

/* "" when empty, never NULL. */
static inline const char *mps3_buf_cstr(const struct mps3_buf *b)
{
	return b->data ? b->data : "";
}

#endif
