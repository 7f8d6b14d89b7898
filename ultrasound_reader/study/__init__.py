"""study layer (see DESIGN.md): reader studies, headless (no Qt).

Blinded reads before and after the AI, recorded so that nothing is lost:

* ``models`` / ``migrations``: SQLAlchemy 2 models and the Alembic schema, with the
  triggers that keep answers, reveals and the audit append-only and lock the pre-AI
  answer once the AI output is revealed (SQLite and PostgreSQL).
* ``db``: ``--db`` URLs (a plain path is a SQLite file; WAL, synchronous FULL,
  foreign keys on), migrations, and database failures as one clear line.
* ``service``: ``create_study``, ``add_reader``, ``answer``, ``reveal``, ``status``;
  one transaction per answer, refused attempts audited.
* ``export`` (long, iMRMC, MRMCaov layouts), ``analysis`` + ``plots`` (``study
  analyze``), ``demo`` (a ready study with SIMULATED readers), ``bench``.
* ``cli``: the ``ultrasound-reader study ...`` commands.

The GUI reader mode (``study read``) and coordinator window (``study coordinate``) are in
``ultrasound_reader.gui`` (reader_mode, coordinator); they use ``reader_view`` and the
service functions above, never the tables directly.
"""
