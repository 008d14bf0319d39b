Feature: File-backed locations answer in-process

  The whole API, DOMAIN and AUTH suites run against STOCK_LOCATIONS_FILE (the retail estate); this
  scenario only shows that the file replaces the Location API entirely.

  @locations-7
  Scenario: With a locations file no HTTP call is made and the locationApi check is always up
    Given the retail estate
    And a Location API serving the retail estate runs, unused by the service
    When I send GET /locations/Store-001/products/SKU1
    Then the response status is 200
    When I send GET /locations/Atlantis/products/SKU1
    Then the response is 404 with body {"status":"LocationNotFound"}
    When I send POST /locations/Untracked-1/products/SKU1/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response is 303 with body {"status":"LocationNotTracked"}
    And the response has the header "Location" with value "/locations/Store-001/products/SKU1/sales"
    When I send GET /health/ready
    Then the response is 200 with body {"status":"UP","checks":[{"name":"locationApi","status":"UP"},{"name":"eventRepository","status":"UP"},{"name":"snapshotRepository","status":"UP"}]}
    And the Location API received no calls
