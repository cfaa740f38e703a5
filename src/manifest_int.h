/* Private to the manifest: manifest.c (the format, the manifest in memory and its writer) and
 * manifest_read.c (its reader). */
#ifndef SK_MANIFEST_INT_H
#define SK_MANIFEST_INT_H

#include "manifest.h"

#define MF_MAGIC "savekeeper-manifest"
/* Groups whose CRC-32 the group-crc32 header line holds, at most: 8 hex digits each keep the
 * line (and the header, which manifest_read_header reads from the first MF_MAX_LINE bytes)
 * within 48 KiB, leaving room for the other header lines. */
#define MF_MAX_GROUP_CRCS 6144

/* Frees what an entry owns (its path and target), not the entry itself. */
void mf_entry_clear(struct mf_entry *e);

#endif
