"""What the tests share: the engine under test and how to run it (``engine``), rings
and waiting (``rings``), reader processes (``readers``), test material (``wav_files``,
``speech_material``, ``silero_reference``), a ring writer in Python
(``python_writer``), header corpora, private sound servers, the torture run. The
fixtures that use them are in ``tests/conftest.py``."""
