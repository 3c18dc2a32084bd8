"""The engine: a validated request (:mod:`.job`), its options (:mod:`.options`), initial
states (:mod:`.initial`), one block of trajectories (:mod:`.block`), the driver that
runs blocks into a sink (:mod:`.driver`: ``simulate``, ``resume``), executors for
scale-out (:mod:`.executors`) and the progress bar (:mod:`.progress`)."""
