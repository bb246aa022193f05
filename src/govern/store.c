/* placeholder */
typedef int ag_placeholder_store;
