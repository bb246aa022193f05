/*
 * pam-symbols: checks what pam_aalgate.so exports, as pam-u2f's tests
 * do: the PAM entry points and nothing else.
 *
 *   pam-symbols MODULE [INTERNAL...]
 *
 * dlopen()s MODULE (RTLD_NOW, so every symbol it needs must resolve),
 * finds pam_sm_authenticate, pam_sm_setcred and pam_sm_acct_mgmt with
 * dlsym, and fails to find each INTERNAL name (functions of the module
 * that must stay hidden) and the entry points it does not provide.  Then
 * reads the file's dynamic symbol table and prints every symbol it
 * defines and exports, one per line: the three entry points, nothing
 * more.
 *
 * Exit status: 0 when all holds, 1 when something does not (each problem
 * on stderr), 2 on bad usage or an unreadable file.
 */
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const wanted[] = {"pam_sm_authenticate",
				     "pam_sm_setcred", "pam_sm_acct_mgmt"};
static const char *const absent[] = {
	"pam_sm_open_session", "pam_sm_close_session", "pam_sm_chauthtok"};

static int problems;

static void problem(const char *what, const char *name)
{
	fprintf(stderr, "pam-symbols: %s '%s'\n", what, name);
	problems++;
}

static int is_wanted(const char *name)
{
	for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++)
		if (!strcmp(name, wanted[i]))
			return 1;
	return 0;
}

/* Reads the whole file; NULL on failure. */
static unsigned char *slurp(const char *path, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || st.st_size <= 0 ||
	    st.st_size > 64 * 1024 * 1024) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	unsigned char *b = malloc((size_t)st.st_size);
	size_t n = 0;
	while (b && n < (size_t)st.st_size) {
		ssize_t r = read(fd, b + n, (size_t)st.st_size - n);
		if (r <= 0) {
			free(b);
			b = NULL;
			break;
		}
		n += (size_t)r;
	}
	close(fd);
	*len = n;
	return b;
}

/* Lists the defined, exported symbols of the ELF64 file's .dynsym. */
static int exported(const char *path)
{
	size_t len = 0;
	unsigned char *f = slurp(path, &len);
	if (!f) {
		fprintf(stderr, "pam-symbols: cannot read '%s'\n", path);
		return -1;
	}
	int found = -1;
	const Elf64_Ehdr *eh = (const void *)f;
	if (len < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_shentsize != sizeof(Elf64_Shdr) ||
	    eh->e_shoff > len ||
	    (size_t)eh->e_shnum * sizeof(Elf64_Shdr) > len - eh->e_shoff) {
		fprintf(stderr, "pam-symbols: '%s' is not an ELF64 file\n",
			path);
		goto out;
	}
	const Elf64_Shdr *sh = (const void *)(f + eh->e_shoff);
	for (size_t i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_type != SHT_DYNSYM)
			continue;
		if (sh[i].sh_link >= eh->e_shnum)
			goto out;
		const Elf64_Shdr *ss = &sh[sh[i].sh_link];
		if (sh[i].sh_offset > len ||
		    sh[i].sh_size > len - sh[i].sh_offset ||
		    ss->sh_offset > len || ss->sh_size > len - ss->sh_offset)
			goto out;
		const Elf64_Sym *sym = (const void *)(f + sh[i].sh_offset);
		const char *str = (const char *)(f + ss->sh_offset);
		size_t n = sh[i].sh_size / sizeof(Elf64_Sym);
		found = 0;
		for (size_t k = 0; k < n; k++) {
			unsigned bind = ELF64_ST_BIND(sym[k].st_info);
			if (sym[k].st_shndx == SHN_UNDEF ||
			    (bind != STB_GLOBAL && bind != STB_WEAK) ||
			    sym[k].st_name >= ss->sh_size)
				continue;
			const char *name = str + sym[k].st_name;
			if (!memchr(name, '\0', ss->sh_size - sym[k].st_name))
				continue;
			printf("%s\n", name);
			found++;
			if (!is_wanted(name))
				problem("exports", name);
		}
	}
out:
	free(f);
	return found;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: pam-symbols MODULE [INTERNAL...]\n");
		return 2;
	}
	void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "pam-symbols: dlopen: %s\n", dlerror());
		return 1;
	}
	for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++)
		if (!dlsym(h, wanted[i]))
			problem("does not export", wanted[i]);
	for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
		if (dlsym(h, absent[i]))
			problem("exports", absent[i]);
	for (int i = 2; i < argc; i++)
		if (dlsym(h, argv[i]))
			problem("exports the internal", argv[i]);
	dlclose(h);
	int n = exported(argv[1]);
	if (n < 0)
		return 2;
	if (n != (int)(sizeof(wanted) / sizeof(wanted[0]))) {
		fprintf(stderr, "pam-symbols: %d symbols exported, expected "
				"%zu\n",
			n, sizeof(wanted) / sizeof(wanted[0]));
		problems++;
	}
	return problems ? 1 : 0;
}
