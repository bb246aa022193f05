/*
 * Functions that are easy to misuse are compile errors in aalgate, as in
 * git's banned.h.  Use instead:
 *   strcpy, strcat, strncpy, strncat -> ag_strlcpy or a struct ag_buf
 *   sprintf, vsprintf                -> snprintf, ag_buf_printf
 *   strtok                           -> strtok_r or explicit parsing
 *   gets                             -> fgets / getline
 *   atoi, atol                       -> strtol with range checks
 */
#ifndef AG_BANNED_H
#define AG_BANNED_H

#define BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) BANNED(strncpy)
#undef strncat
#define strncat(x, y, n) BANNED(strncat)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef gets
#define gets(x) BANNED(gets)
#undef atoi
#define atoi(x) BANNED(atoi)
#undef atol
#define atol(x) BANNED(atol)

#endif
