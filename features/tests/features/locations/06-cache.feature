Feature: The Location API client is a private HTTP cache

  Background:
    Given the Location API serves the retail estate

  @locations-6
  Scenario Outline: Five stock reads of a location served with "<header>" make <calls> call(s) for it
    Given the Location API answers /locations/Store-001 with the header "<header>"
    When I send GET /locations/Store-001/products/SKU1 5 times
    Then the last 5 answers were 200 with body {"locationId":"Store-001","productId":"SKU1","quantity":0.0,"lastUpdated":"-999999999-01-01T00:00:00","totalQuantity":0.0,"childLocations":[{"locationId":"Untracked-1","totalQuantity":0.0}]}
    And the Location API received <calls> calls to /locations/Store-001
    And the Location API received 5 calls to /locations/Store-001/children

    Examples:
      | header                                 | calls |
      | Cache-Control: max-age=3600            | 1     |
      | Cache-Control: private, max-age=3600   | 1     |
      | Cache-Control: no-cache                | 5     |
      | Cache-Control: no-store                | 5     |
      | Cache-Control: max-age=0               | 5     |
      | Cache-Control: no-cache, max-age=3600  | 5     |

  @locations-6
  Scenario: An answer without Cache-Control and without Expires is not reused
    When I send GET /locations/Store-001/products/SKU1 5 times
    Then the Location API received 5 calls to /locations/Store-001

  @locations-6
  Scenario: Expires without max-age keeps an answer fresh until then
    Given the Location API answers /locations/Store-001 with an Expires header 3600 seconds ahead
    When I send GET /locations/Store-001/products/SKU1 5 times
    Then the Location API received 1 call to /locations/Store-001

  @locations-6
  Scenario: An answer that expired already is not reused
    Given the Location API answers /locations/Store-001 with an Expires header 3600 seconds ago
    When I send GET /locations/Store-001/products/SKU1 5 times
    Then the Location API received 5 calls to /locations/Store-001

  @locations-6
  Scenario: max-age wins over Expires
    Given the Location API answers /locations/Store-001 with an Expires header 3600 seconds ahead
    And the Location API answers /locations/Store-001 with the header "Cache-Control: max-age=0"
    When I send GET /locations/Store-001/products/SKU1 3 times
    Then the Location API received 3 calls to /locations/Store-001

  @locations-6
  Scenario: Each URL is cached on its own: the location, its subtree, its depth=1 view and other locations
    Given the Location API answers /locations/Store-001 with the header "Cache-Control: max-age=3600"
    And the Location API answers /locations/Store-001/children with the header "Cache-Control: max-age=3600"
    And the Location API answers /locations/Store-001/children?depth=1 with the header "Cache-Control: max-age=3600"
    And the Location API answers /locations/Central%20Store with the header "Cache-Control: max-age=3600"
    When I send GET /locations/Store-001/products/SKU1 2 times
    And I send GET /locations/Store-001/products/SKU1?includeChildren=false 2 times
    And I send GET /locations/Central%20Store/products/SKU1 2 times
    Then the Location API received exactly:
      | /locations/Store-001                    |
      | /locations/Store-001/children           |
      | /locations/Store-001/children?depth=1   |
      | /locations/Central%20Store              |
      | /locations/Central%20Store/children     |
      | /locations/Central%20Store/children     |

  @locations-6 @api-9
  Scenario: The path of an untracked location is cached on its own
    Given the Location API answers /locations/Untracked-1 with the header "Cache-Control: max-age=3600"
    And the Location API answers /locations/Untracked-1/path with the header "Cache-Control: max-age=3600"
    When I send POST /locations/Untracked-1/products/SKU1/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}
      """
    And I send the same request again
    Then the response is 303 with body {"status":"LocationNotTracked"}
    And the Location API received exactly:
      | /locations/Untracked-1      |
      | /locations/Untracked-1/path |

  @locations-6
  Scenario: Only 2xx answers are cached
    Given the Location API always answers /locations/Atlantis with 404
    And the Location API answers /locations/Atlantis with the header "Cache-Control: max-age=3600"
    When I send GET /locations/Atlantis/products/SKU1 3 times
    Then the last 3 answers were 404 with body {"status":"LocationNotFound"}
    And the Location API received 3 calls to /locations/Atlantis

  @locations-6 @domain-4
  Scenario: A subtree served with no-cache shows hierarchy changes at once
    Given the Location API answers /locations/Store-001/children with the header "Cache-Control: no-cache"
    When I send GET /locations/Store-001/products/SKU1
    And a location "Bay 7" with roles "TrackedInventoryLocation" opens under "Store-001" in the Location API
    And I send GET /locations/Store-001/products/SKU1
    Then the response is 200 with body {"locationId":"Store-001","productId":"SKU1","quantity":0.0,"lastUpdated":"-999999999-01-01T00:00:00","totalQuantity":0.0,"childLocations":[{"locationId":"Untracked-1","totalQuantity":0.0},{"locationId":"Bay 7","quantity":0.0,"totalQuantity":0.0}]}

  @locations-6
  Scenario: A subtree served with max-age hides hierarchy changes while it is fresh
    Given the Location API answers /locations/Store-001/children with the header "Cache-Control: max-age=3600"
    When I send GET /locations/Store-001/products/SKU1
    And a location "Bay 7" with roles "TrackedInventoryLocation" opens under "Store-001" in the Location API
    And I send GET /locations/Store-001/products/SKU1
    Then the response is 200 with body {"locationId":"Store-001","productId":"SKU1","quantity":0.0,"lastUpdated":"-999999999-01-01T00:00:00","totalQuantity":0.0,"childLocations":[{"locationId":"Untracked-1","totalQuantity":0.0}]}

  @locations-6 @locations-8
  Scenario: Fresh cached answers are used while the Location API is down
    Given the Location API answers /locations/Store-001 with the header "Cache-Control: max-age=3600"
    And the Location API answers /locations/Store-001/children?depth=1 with the header "Cache-Control: max-age=3600"
    When I send GET /locations/Store-001/products/SKU1?includeChildren=false
    And the Location API goes down
    And I send GET /locations/Store-001/products/SKU1?includeChildren=false
    Then the response is 200 with body {"locationId":"Store-001","productId":"SKU1","quantity":0.0,"lastUpdated":"-999999999-01-01T00:00:00"}
    And the Location API received 2 calls in all
