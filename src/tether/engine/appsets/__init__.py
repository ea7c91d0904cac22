"""ApplicationSets over plain data: the spec, generators, template rendering and the plan.

``spec`` parses (and converts Argo CD's manifests), ``generators`` turns
generators into parameter sets, ``template`` renders strings, ``render``
turns parameter sets into checked Applications, and ``plan`` says what to
create, update, delete or hold. The controller loop is
``tether.controller.appsets``.
"""
