"""Test support shared by every test folder: one copy of what many suites need.

- ``support.fixtures`` is a pytest plugin (registered in ``tests/conftest.py``): a private
  ``home``, a ``store`` with ``bucket``, ``make_image``, a session ``seaweed`` S3 server and a
  TCP ``listener``.  A folder that needs a variant overrides the fixture by name, asking for
  the shared one when it only adds to it.
- ``support.images``: a small process-runtime image (or just its build context) from a dict
  of files; ``MODEL_SERVER`` adds ``support.model_server``, a stdlib model server that runs
  inside such an image.
- ``support.job_requests``: minimal valid CreateTrainingJob / CreateProcessingJob requests,
  processing inputs and outputs, a tuning job's TrainingJobDefinition.
- ``support.procs``: finding and killing host processes by command line.
- ``support.sdk_scripts``: running a user's SDK script in its own process, reading its result.
- ``support.ner_example``: the flagship example's config cut down to a few minutes' run.

It lives beside the tests rather than in ``src/`` because nothing in stepline may depend on
it; ``tests/`` is on ``sys.path`` (pytest's rootdir conftest), so ``import support`` works in
every test module and conftest.
"""
