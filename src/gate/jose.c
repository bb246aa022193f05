/* placeholder */
typedef int ag_placeholder_jose;
