# 10000 nested flow mappings under a workflow, without the closing braces.
{
	printf 'workflows:\n  staff: '
	i=0
	while [ $i -lt 1000 ]; do printf '{a: {a: {a: {a: {a: {a: {a: {a: {a: {a: '; i=$((i + 1)); done
	printf '\n'
} > policy.yaml
