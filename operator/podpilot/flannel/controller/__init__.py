"""The flannel reporter's I/O: the debounced reconciler and the report and Event publisher."""
