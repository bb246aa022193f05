# A policy one byte over the 16 MiB cap: a valid policy padded by a comment.
{
	printf 'workflows:\n  staff: { aal: 2 }\n#'
	head -c 16777184 /dev/zero | tr '\0' x
	printf '\n'
} > policy.yaml
