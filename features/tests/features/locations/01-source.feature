Feature: Locations come from exactly one source: a Location API or a locations file

  @locations-1
  Scenario: With STOCK_LOCATION_API_URL every location question goes to that Location API
    Given the Location API serves the retail estate
    When I send GET /locations/Store-001/products/SKU1?includeChildren=false
    Then the response is 200 with body {"locationId":"Store-001","productId":"SKU1","quantity":0.0,"lastUpdated":"-999999999-01-01T00:00:00"}
    And the Location API received exactly /locations/Store-001, /locations/Store-001/children?depth=1

  @locations-1
  Scenario: A Location API URL together with a locations file is refused at start-up
    Given the retail estate
    And the service setting STOCK_LOCATION_API_URL is "http://127.0.0.1:9"
    Then the service refuses to start, naming STOCK_LOCATIONS_FILE

  @locations-1
  Scenario: Without a Location API URL and without a locations file the service refuses to start
    Given the retail estate
    And the service setting STOCK_LOCATIONS_FILE is not set
    Then the service refuses to start, naming STOCK_LOCATION_API_URL

  @locations-1
  Scenario Outline: A Location API URL that is not http(s) is refused at start-up: <url>
    Given the Location API serves the retail estate
    And the service setting STOCK_LOCATION_API_URL is "<url>"
    Then the service refuses to start, naming STOCK_LOCATION_API_URL

    Examples:
      | url                |
      | ftp://locations    |
      | locations:8080     |
