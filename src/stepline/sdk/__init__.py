"""The authoring SDK: build workflows in Python, compile them to ASL, run them locally.

Its public faces are :mod:`stepline.steps` and :mod:`stepline.workflow` (the names AWS's
Step Functions Data Science SDK users know) and :mod:`stepline.sdk.jobs` (SageMaker request
builders that need no ``sagemaker`` package).  The modules here are private by convention.
"""
