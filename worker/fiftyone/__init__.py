"""FiftyOne, shared by the service and the ``fiftyone`` job: who reaches which MongoDB database
(``database``), the build plan of a comparison (``plan``), and the builder process (``build``), the
only module that imports FiftyOne."""
